"""Publishing a finished results folder: a static STAC catalog and the account table as JSON."""
