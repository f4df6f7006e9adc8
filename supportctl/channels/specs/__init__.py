"""One declaration module per channel type (see ``supportctl.channels.spec``).
Found by listing this folder: a new channel adds its file here."""
