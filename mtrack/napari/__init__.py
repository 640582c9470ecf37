"""napari plugin of mtrack: reader, writer, sample data, Detect and Review widgets.

The manifest is ``napari.yaml`` (top level, carried by the package as ``mtrack/napari.yaml``).
:mod:`mtrack.napari._layers` converts movies and results folders to napari layer data tuples
and back (no viewer, no Qt); :mod:`._reader`, :mod:`._writer` and :mod:`._sample_data` are
the npe2 commands built on it. Importing this package imports neither napari nor Qt, so the
commands load quickly; napari and Qt are imported only by the modules that need them. The
core of mtrack never imports this package.
"""
