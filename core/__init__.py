"""MotorBand's core layer: who acts, the one audited write path, scoping, API and command bases,
API tokens and the append-only access log.

It imports no MotorBand app (an import-linter contract keeps it so): the apps build on it.
"""
