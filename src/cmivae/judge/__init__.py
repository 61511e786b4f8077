"""The Sprites judge: a classifier of real sequences that scores generated ones.

The field's protocol (Li & Mandt 2018; C-DSVAE, SPYL, DBSE; ``shared/sprites/README.md``): a classifier
trained on real training sequences reads the action and the four attributes of a decoded sequence.
The judge file the field shares is not obtainable, so this library trains its own
(``cmivae judge train sprites``) and publishes its accuracy on the real test sequences with it:
every number it produces is "by cmivae's judge", never the field's.

- :mod:`cmivae.judge.network`: :class:`SpritesJudge` (frame CNN -> LSTM over T -> 5 heads);
- :mod:`cmivae.judge.training`: :func:`train_judge` (training split only, seeded) and its test accuracies;
- :mod:`cmivae.judge.cache`: the judge file under ``$CMIVAE_DATA/sprites/judge/``, its SHA-256 and what it
  was trained on; a damaged or mismatched file is refused in one line.
"""

from __future__ import annotations

# Torch-free, so the command line can show them without importing torch.
DEFAULT_EPOCHS = 4  # of `cmivae judge train`
TARGET_ACCURACY = 0.99  # the field's bar on real test sequences: action and each attribute
