"""Groups of copies: candidate edges checked by the verifier, clustering, the groups files."""
