#!/usr/bin/env bash
# Creates one role and one database each for MLflow, Prefect and the API's prediction log, on the
# first start of an empty data volume (the postgres image runs /docker-entrypoint-initdb.d/* only
# then; on an older volume, create the predictions database by hand: README, "Monitoring").
#
# Reads: POSTGRES_USER and POSTGRES_DB (the postgres image sets them), MLFLOW_DB_PASSWORD,
# PREFECT_DB_PASSWORD and PREDICTIONS_DB_PASSWORD (from .env through docker-compose.yml), and
# MLFLOW_DB_NAME / PREFECT_DB_NAME / PREDICTIONS_DB_NAME (role and database name; default mlflow /
# prefect / predictions, which docker-compose.yml's connection URLs use). Values reach SQL as psql variables (:'pass', :"name"), which psql
# quotes, so a password may hold any character.
set -euo pipefail

: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set}"
: "${PREFECT_DB_PASSWORD:?PREFECT_DB_PASSWORD must be set}"
: "${PREDICTIONS_DB_PASSWORD:?PREDICTIONS_DB_PASSWORD must be set}"

create_database() {
    local name="$1" password="$2"
    psql --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        --no-psqlrc --set ON_ERROR_STOP=1 \
        --set name="$name" --set pass="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pass';
CREATE DATABASE :"name" OWNER :"name";
SQL
    echo "init-databases: created role and database ${name}"
}

create_database "${MLFLOW_DB_NAME:-mlflow}" "$MLFLOW_DB_PASSWORD"
create_database "${PREFECT_DB_NAME:-prefect}" "$PREFECT_DB_PASSWORD"
create_database "${PREDICTIONS_DB_NAME:-predictions}" "$PREDICTIONS_DB_PASSWORD"
