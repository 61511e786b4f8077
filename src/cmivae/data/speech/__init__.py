"""Speech data sets (paper Sec. 5.2, appendix G.1): audio I/O, corpus discovery, splits,
feature cache, features, and the synthetic espeak-ng corpus."""
