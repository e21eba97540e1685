#!/usr/bin/env bash
# Records the go test -json streams testreport's tests replay: run it in
# this directory (a module of its own; go build ignores testdata), then
# review the diff. text.json is pass.json after a line go test prints on
# standard error.
set -euo pipefail
cd "$(dirname "$0")"
out=..
go test -json ./ok ./notests >$out/pass.json 2>&1 || true
go test -json ./mixed >$out/mixed.json 2>&1 || true
go test -json ./brokentest ./usesdep ./ok >$out/build.json 2>&1 || true
go test -json ./panics >$out/panic.json 2>&1 || true
go test -json -timeout 3s ./hangs >$out/timeout.json 2>&1 || true
go test -json ./testmain >$out/testmain.json 2>&1 || true
go test -json ./parallel >$out/parallel.json 2>&1 || true
{ printf 'go: downloading example.com/dep v1.2.3\n'; cat $out/pass.json; } >$out/text.json
