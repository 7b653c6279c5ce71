__version__ = "0.1.0"

#: Where the project lives; ``[project.urls]`` in pyproject.toml says the same (a test checks).
REPOSITORY_URL = "https://github.com/mlspec/mlspec"

# The distribution name on PyPI: `mlspec` there is an unrelated project. The import name and
# the command stay `mlspec`.
DISTRIBUTION = "mlspec-compiler"
