"""Generated from proto/valv/v1 by clients/python/tools/generate_stubs.py; do not edit."""
