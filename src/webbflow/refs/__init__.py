"""Reference files: CRDS selection, the local cache and the readers."""

from webbflow.refs.readers import ReferenceModel, open_reference

__all__ = ["ReferenceModel", "open_reference"]
