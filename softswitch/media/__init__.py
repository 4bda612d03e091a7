"""Media: G.711 codecs, tones, in-band DTMF, players, mixing and recording on the 20 ms ticker."""
