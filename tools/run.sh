#!/bin/sh
# make run: starts the gateway on the embedded default configuration
# (data under ./var, mount at ./mnt, C-STORE on 127.0.0.1:11112, the demo project DEMO01;
# README.md "Try it" goes on from here).
set -eu
mkdir -p var mnt
exec build/fiona serve "$@"
