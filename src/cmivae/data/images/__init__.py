"""Image data sets: binarized MNIST / Fashion-MNIST (paper appendix G.2): IDX reader, fetch, packs."""
