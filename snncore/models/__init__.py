"""One model module per paper: denram, lcsnn, larisch, ebn (+ ebn_robust)."""
