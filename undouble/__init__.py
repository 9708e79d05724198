"""undouble: find and safely move duplicate images."""
