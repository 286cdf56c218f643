#!/usr/bin/env bash
# Runs inside LocalStack when it is ready: creates the bucket the cloud tests and the
# README examples use.
set -euo pipefail
awslocal s3 mb s3://mixpeek-export-test
echo "created s3://mixpeek-export-test"
