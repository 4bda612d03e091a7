from softswitch.cli import main

raise SystemExit(main())
