"""Damping filters: the effectors of membrane. See filters/base.py for the contract."""
