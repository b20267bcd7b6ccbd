"""Performance scripts: each prints figures and ratios against a baseline of the same run."""
