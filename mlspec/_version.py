__version__ = "0.1.0"

# The distribution name on PyPI: `mlspec` there is an unrelated project. The import name and
# the command stay `mlspec`.
DISTRIBUTION = "mlspec-compiler"
