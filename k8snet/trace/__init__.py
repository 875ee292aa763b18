"""Packet paths: the trace of a connection hop by hop, and pictures of the cluster."""
