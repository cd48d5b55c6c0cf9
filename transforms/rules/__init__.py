"""Rules: canonical tables in, derived tables, findings and populations out.

The finding registry (sql/rules/<finding>.toml), the SQL steps in dependency order
(sql/derive, sql/populations, sql/rules), tagging and the sensitivity reruns, and the
same steps on Apache Spark.
May import: transforms.inputs and the shared modules, schemas.
"""
