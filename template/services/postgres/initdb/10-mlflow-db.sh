#!/bin/sh
# Runs once, when the data volume is first initialised (official postgres image contract).
# Creates MLflow's role and makes it the owner of its own database. psql variables quote the
# values, so no secret is ever spliced into SQL text.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$MLFLOW_DB_NAME" -v role="$MLFLOW_DB_USER" -v password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
