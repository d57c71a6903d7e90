"""The data dir (seed 004): grouped layout, atomic JSON state files, runtime checkpoint."""
