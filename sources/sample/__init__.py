"""The demo's sample: an excerpt of real CBS tables plus generated (synthetic) benefit tables and UWV files.

``excerpt`` (which rows of the offline mirror are bundled, and the command that copies them),
``benefits`` (generated municipal WW and WWB tables), ``uwv`` (generated UWV register files),
``cbs`` (the tables served through the CBS client's interface). Provenance: README.md here.
"""
