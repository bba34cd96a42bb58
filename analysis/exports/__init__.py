"""Study exports: the BIDS study bundle (import and export), trial datasets, their data dictionary,
de-identification and frozen releases."""
