"""The shared verdict vectors: one good bundle, its forgeries and honest variants, run
through the package, the stand-alone script and the page (docs/verdict.md)."""
