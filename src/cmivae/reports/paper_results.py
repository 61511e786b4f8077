"""The paper's published numbers (Tables 1-5), transcribed as data for side-by-side reports.

Transcribed from ``shared/paper.md`` (Sec. 5.2, appendices J and K). Metric keys are ours
(the keys of ``results.json`` / ``eval.json``), so a paper row lines up with our rows:

- Tables 4 and 5 (PixelCNN-VAE): the column printed "ELBO" is the *negative* ELBO
  (it equals Recon + KL(z); e.g. 52.61 + 3.60 = 56.21), so it is stored as ``neg_elbo``.
  Recon = -E log p(x|z), all in nats per image, not divided by 28 x 28. Accuracies
  (mCAS, AoLR, mCAS(SVM), AoSVM) are fractions. No standard errors are published.
- Table 3 (DSAE, TIMIT): "ELBO" is the true ELBO = -(Recon + KL(z) + KL(s)) (6299.08 =
  6813.00 - 18.00 - 495.92), stored as ``elbo``; Recon is negative because the decoder's
  variance is learned. Means and standard errors over three seeds. EERs in percent.
- Table 1 repeats Table 3's KL(z), EER(z), EER(s) means. Table 2: VC-mCAS in percent,
  mean and max over three seeds (``vc_mcas``, ``vc_mcas_max``).

The vanilla model (gamma = 0, the ELBO; "DSAE" in Tables 1 and 3, "beta-VAE 0.0" in
Tables 4 and 5) is stored as method ``beta`` at gamma 0, which is what beta-VAE with
beta = 1 - gamma = 1 is. "DSAE*" of Table 1 (Li & Mandt 2018's published numbers) is
method ``reference``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TABLE_4_ROWS = (
    # gamma, method, -ELBO, KL(z), Recon, mCAS, AoLR, mCAS(SVM), AoSVM, I(z;s)
    (0.0, "beta", 56.21, 3.60, 52.61, 0.3966, 0.6094, 0.5722, 0.6447, 1.81),
    (0.1, "beta", 56.28, 5.33, 50.95, 0.5917, 0.8161, 0.7172, 0.8458, 2.11),
    (0.1, "cmi", 56.24, 4.80, 51.43, 0.5421, 0.7243, 0.6499, 0.7809, 1.97),
    (0.1, "mi", 56.23, 5.16, 51.07, 0.5325, 0.7602, 0.6651, 0.8080, 2.05),
    (0.2, "beta", 56.68, 9.21, 47.47, 0.6924, 0.8479, 0.7750, 0.8980, 2.45),
    (0.2, "cmi", 56.68, 9.32, 47.36, 0.7229, 0.8692, 0.7934, 0.9026, 2.29),
    (0.2, "mi", 56.50, 8.90, 47.60, 0.6734, 0.8208, 0.7606, 0.8762, 2.38),
    (0.3, "beta", 58.33, 18.04, 40.29, 0.7448, 0.8354, 0.8109, 0.9027, 2.85),
    (0.3, "cmi", 58.03, 17.52, 40.51, 0.7716, 0.8630, 0.8136, 0.9182, 1.80),
    (0.3, "mi", 57.81, 16.37, 41.44, 0.7399, 0.8238, 0.8014, 0.8938, 2.85),
    (0.4, "beta", 61.22, 29.00, 32.21, 0.7476, 0.8204, 0.8063, 0.8962, 3.28),
    (0.4, "cmi", 61.27, 29.56, 31.71, 0.7664, 0.8401, 0.8122, 0.9114, 2.21),
    (0.4, "mi", 60.52, 27.10, 33.43, 0.7461, 0.7903, 0.7985, 0.8742, 3.11),
    (0.5, "beta", 64.55, 37.79, 26.76, 0.7555, 0.8279, 0.8060, 0.9010, 3.16),
    (0.5, "cmi", 64.69, 38.40, 26.28, 0.7575, 0.8405, 0.8075, 0.9088, 1.79),
    (0.5, "mi", 63.57, 35.62, 27.95, 0.7454, 0.7719, 0.7963, 0.8582, 3.18),
    (0.6, "beta", 68.74, 46.29, 22.45, 0.7642, 0.8306, 0.8120, 0.9056, 3.27),
    (0.6, "cmi", 69.00, 47.11, 21.90, 0.7618, 0.8486, 0.8079, 0.9190, 2.57),
    (0.6, "mi", 67.72, 44.16, 23.57, 0.7484, 0.7722, 0.7949, 0.8572, 3.19),
    (0.7, "beta", 74.47, 56.04, 18.43, 0.7531, 0.8454, 0.7984, 0.9148, 3.27),
    (0.7, "cmi", 74.71, 56.28, 18.43, 0.7553, 0.8486, 0.8019, 0.9179, 1.81),
    (0.7, "mi", 72.92, 52.88, 20.05, 0.7496, 0.7753, 0.7912, 0.8601, 3.19),
)

TABLE_5_ROWS = (
    # gamma, method, -ELBO, KL(z), Recon, mCAS, AoLR, mCAS(SVM), AoSVM, I(z;s)
    (0.0, "beta", 88.60, 4.02, 84.58, 0.4820, 0.6906, 0.6342, 0.7552, 2.00),
    (0.1, "beta", 88.86, 6.71, 82.16, 0.5716, 0.7172, 0.6556, 0.7790, 2.40),
    (0.1, "cmi", 88.90, 6.47, 82.43, 0.5837, 0.7201, 0.6618, 0.7757, 2.53),
    (0.1, "mi", 88.84, 6.72, 82.12, 0.5645, 0.7166, 0.6592, 0.7742, 2.37),
    (0.2, "beta", 89.94, 10.95, 78.99, 0.6174, 0.7092, 0.6792, 0.7708, 2.78),
    (0.2, "cmi", 90.25, 11.49, 78.76, 0.6463, 0.7258, 0.6885, 0.7779, 2.46),
    (0.2, "mi", 89.78, 10.55, 79.23, 0.6132, 0.6991, 0.6760, 0.7655, 2.69),
    (0.3, "beta", 91.45, 16.11, 75.34, 0.6427, 0.7030, 0.6811, 0.7665, 2.94),
    (0.3, "cmi", 91.55, 16.39, 75.16, 0.6578, 0.7238, 0.6873, 0.7713, 2.03),
    (0.3, "mi", 91.14, 15.09, 76.06, 0.6241, 0.6817, 0.6897, 0.7507, 2.92),
    (0.4, "beta", 93.98, 24.33, 69.65, 0.6536, 0.7062, 0.6858, 0.7636, 3.24),
    (0.4, "cmi", 93.81, 23.35, 70.46, 0.6662, 0.7145, 0.6868, 0.7701, 2.11),
    (0.4, "mi", 93.36, 22.38, 70.98, 0.6366, 0.6787, 0.6886, 0.7278, 3.21),
    (0.5, "beta", 97.36, 33.02, 64.34, 0.6547, 0.6919, 0.6845, 0.7521, 3.36),
    (0.5, "cmi", 97.14, 32.14, 65.00, 0.6651, 0.7193, 0.6867, 0.7688, 2.29),
    (0.5, "mi", 96.47, 31.19, 65.27, 0.6343, 0.6506, 0.6823, 0.7056, 3.31),
    (0.6, "beta", 101.76, 42.40, 59.36, 0.6633, 0.6899, 0.6853, 0.7524, 3.39),
    (0.6, "cmi", 101.83, 41.97, 59.86, 0.6685, 0.7112, 0.6904, 0.7659, 2.43),
    (0.6, "mi", 100.66, 39.96, 60.70, 0.6535, 0.6420, 0.6854, 0.6961, 3.33),
    (0.7, "beta", 107.77, 52.57, 55.20, 0.6680, 0.6983, 0.6900, 0.7545, 3.41),
    (0.7, "cmi", 107.49, 51.97, 55.52, 0.6729, 0.7103, 0.6910, 0.7681, 2.00),
    (0.7, "mi", 106.05, 49.14, 56.91, 0.6578, 0.6278, 0.6838, 0.6791, 3.34),
    (0.8, "beta", 117.00, 65.76, 51.25, 0.6649, 0.7044, 0.6855, 0.7665, 3.37),
    (0.8, "cmi", 116.21, 64.68, 51.53, 0.6634, 0.7098, 0.6851, 0.7705, 2.35),
    (0.8, "mi", 113.98, 60.19, 53.79, 0.6599, 0.6108, 0.6890, 0.6709, 3.31),
    (0.9, "beta", 132.62, 85.13, 47.49, 0.6695, 0.7097, 0.6844, 0.7787, 3.47),
    (0.9, "cmi", 131.01, 82.97, 48.04, 0.6703, 0.7169, 0.6860, 0.7780, 2.74),
    (0.9, "mi", 128.34, 77.72, 50.61, 0.6565, 0.6209, 0.6880, 0.6882, 3.31),
)

TABLE_3_ROWS = (
    # gamma, method, (ELBO, se), (KL(z), se), (KL(s), se), (Recon, se), (EER(z), se), (EER(s), se), (I(z;s), se)
    (0.00, "beta", (6299.08, 14.06), (18.00, 0.09), (495.92, 4.45),
      (-6813.00, 13.37), (11.01, 0.52), (18.64, 1.04), (1.61, 0.04)),
    (0.40, "beta", (6289.48, 11.72), (53.28, 0.97), (483.40, 5.73),
      (-6826.16, 15.46), (3.88, 0.15), (29.45, 0.29), (2.60, 0.01)),
    (0.40, "cmi", (6288.64, 4.82), (54.13, 2.51), (468.06, 14.03),
      (-6810.83, 16.04), (3.43, 0.26), (30.96, 0.81), (2.44, 0.03)),
    (0.80, "beta", (6228.58, 4.81), (145.88, 0.45), (430.73, 7.19),
      (-6805.20, 10.76), (4.33, 0.26), (38.84, 0.47), (2.84, 0.05)),
    (0.80, "cmi", (6222.22, 4.60), (145.09, 0.17), (430.59, 5.60),
      (-6797.90, 1.53), (3.99, 0.29), (41.30, 0.66), (2.83, 0.04)),
    (0.90, "beta", (6172.96, 3.83), (202.52, 1.34), (432.20, 3.88),
      (-6807.67, 2.13), (4.55, 0.15), (39.42, 1.06), (2.89, 0.01)),
    (0.90, "cmi", (6192.05, 6.58), (199.89, 1.10), (429.53, 7.84),
      (-6821.46, 14.59), (4.39, 0.23), (41.25, 2.10), (2.70, 0.03)),
    (0.99, "beta", (6019.10, 11.52), (364.71, 2.08), (433.59, 9.40),
      (-6817.40, 19.39), (6.33, 0.34), (38.63, 1.18), (3.27, 0.15)),
    (0.99, "cmi", (6031.71, 5.78), (361.03, 1.85), (434.55, 8.67),
      (-6827.29, 12.56), (5.06, 0.23), (40.08, 1.09), (2.85, 0.07)),
)

TABLE_2_ROWS = (
    # gamma, method, VC-mCAS mean, VC-mCAS max (percent, three seeds)
    (0.4000, "beta", 83.73, 85.8),
    (0.4000, "cmi", 84.33, 86.6),
    (0.8000, "beta", 87.27, 87.6),
    (0.8000, "cmi", 87.47, 88.0),
    (0.9000, "beta", 87.20, 87.6),
    (0.9000, "cmi", 87.00, 87.6),
    (0.9900, "beta", 87.33, 87.6),
    (0.9900, "cmi", 87.60, 88.6),
    (0.9990, "beta", 87.27, 87.4),
    (0.9990, "cmi", 87.60, 88.0),
    (0.9999, "beta", 86.87, 87.2),
    (0.9999, "cmi", 87.73, 88.0),
)

TABLE_1_ROWS = (
    # gamma, method, KL(z), EER(z), EER(s) (percent)
    (0.00, "beta", 18.00, 11.01, 18.64),
    (0.40, "beta", 53.28, 3.88, 29.45),
    (0.40, "cmi", 54.13, 3.43, 30.96),
    (0.80, "beta", 145.88, 4.33, 38.84),
    (0.80, "cmi", 145.09, 3.99, 41.30),
    (0.90, "beta", 202.52, 4.55, 39.42),
    (0.90, "cmi", 199.89, 4.39, 41.25),
    (0.99, "beta", 364.71, 6.33, 38.63),
    (0.99, "cmi", 361.03, 5.06, 40.08),
)


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper table: means (and standard errors where published) by our metric keys."""

    method: str
    gamma: float
    values: dict[str, float]
    se: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperTable:
    """A transcribed table: which data set and model it is about, its columns (our metric
    keys, in the paper's order) and rows."""

    number: int
    title: str
    dataset: str
    model: str
    columns: tuple[str, ...]
    rows: tuple[PaperRow, ...]


IMAGE_COLUMNS = ("neg_elbo", "kl_z", "recon", "mcas", "aolr", "mcas_svm", "aosvm", "mi_zs")
DSAE_COLUMNS = ("elbo", "kl_z", "kl_s", "recon", "eer_z", "eer_s", "mi_zs")


def _image_table(rows: tuple[tuple, ...]) -> tuple[PaperRow, ...]:
    return tuple(PaperRow(method, float(gamma), dict(zip(IMAGE_COLUMNS, values, strict=True)))
                 for gamma, method, *values in rows)


def _table_3(rows: tuple[tuple, ...]) -> tuple[PaperRow, ...]:
    return tuple(PaperRow(method, float(gamma), {k: m for k, (m, _) in zip(DSAE_COLUMNS, pairs, strict=True)},
                          {k: s for k, (_, s) in zip(DSAE_COLUMNS, pairs, strict=True)})
                 for gamma, method, *pairs in rows)


TABLES: dict[int, PaperTable] = {
    1: PaperTable(1, "KL(z) and EER of DSAE on TIMIT (Sec. 5.2)", "timit", "dsae", ("kl_z", "eer_z", "eer_s"),
                  (PaperRow("reference", 0.0, {"eer_z": 4.82, "eer_s": 18.89}),)
                  + tuple(PaperRow(m, float(g), {"kl_z": kl, "eer_z": ez, "eer_s": es})
                          for g, m, kl, ez, es in TABLE_1_ROWS)),
    2: PaperTable(2, "VC-mCAS of DSAE on TIMIT, mean and max over 3 seeds (appendix J)", "timit", "dsae",
                  ("vc_mcas", "vc_mcas_max"),
                  tuple(PaperRow(m, float(g), {"vc_mcas": mean, "vc_mcas_max": best})
                        for g, m, mean, best in TABLE_2_ROWS)),
    3: PaperTable(3, "DSAE on TIMIT, mean and standard error over 3 seeds (appendix K.1)", "timit", "dsae",
                  DSAE_COLUMNS, _table_3(TABLE_3_ROWS)),
    4: PaperTable(4, "PixelCNN-VAE on MNIST (appendix K.2)", "mnist", "pixelcnn_vae", IMAGE_COLUMNS,
                  _image_table(TABLE_4_ROWS)),
    5: PaperTable(5, "PixelCNN-VAE on Fashion-MNIST (appendix K.2)", "fashion-mnist", "pixelcnn_vae",
                  IMAGE_COLUMNS, _image_table(TABLE_5_ROWS)),
}


def paper_tables(dataset: str, model: str, key: str | None = None) -> list[int]:
    """The paper tables about model family ``model`` (reporting ``key``, when given): those on
    ``dataset``, else, where all the family's tables share one data set (the DSAE's TIMIT), those
    as the reference for another data set of its kind."""
    mine = [n for n, t in TABLES.items() if t.model == model and (key is None or key in t.columns)]
    same = [n for n in mine if TABLES[n].dataset == dataset]
    return same or (mine if len({TABLES[n].dataset for n in mine}) == 1 else [])


def family_tables(models: Iterable[str]) -> list[int]:
    """The paper tables about any of the model families ``models``, on whichever data set (a report's
    reference section: a PixelCNN-VAE report gets Tables 4-5, a DSAE one Tables 1-3, a family the
    paper never trained none)."""
    wanted = set(models)
    return sorted(n for n, t in TABLES.items() if t.model in wanted)


def paper_row(table: int, method: str, gamma: float) -> PaperRow | None:
    """The row of paper table ``table`` for ``method`` at ``gamma`` (``None`` if not published)."""
    for row in TABLES[table].rows:
        if row.method == method and abs(row.gamma - gamma) < 1e-9:
            return row
    return None


# The budget behind the published numbers (appendix G), shown beside ours in every report table.
PAPER_BUDGET = {
    "pixelcnn_vae": "all train (48,000) · 300 epochs · 13 layers x 64 maps (G.2, app. B)",
    "dsae": "TIMIT (6,300 utterances) · 6000 epochs · full model (G.1)",
}
