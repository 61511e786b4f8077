"""Video data sets: Sprites (Li & Mandt 2018, the DSAE paper), sequences of RGB frames with known
static (character) and dynamic (action) factors. Frames are held as uint8 ``(N, T, C, H, W)``;
:func:`cmivae.data.video.frames.to_unit_float` is the one conversion to model inputs."""
