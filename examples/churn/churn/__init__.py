"""A tiny, real churn classifier used as mlspec's runnable example.

Every module runs as ``python -m churn.<module>`` from the example folder, which is how
the commands in ``mlproject.yaml`` call them.
"""

FEATURES = ("tenure_months", "monthly_charges", "contract")
CONTRACTS = ("monthly", "yearly", "two_year")
LABEL = "churned"
