#!/usr/bin/env bash
# Self-check sample: unquoted variables, cd without a check, backticks.
dir=$1
cd $dir
for f in `ls *.csv`; do echo $f; done
