#!/usr/bin/env bash
# Writes the seed corpus and dictionaries for the CinC 2017 fuzz targets into
# DIR/{mat,hea,labels}/ and DIR/*.dict: small files made here from the format
# descriptions (MATLAB v4, WFDB header, REFERENCE csv), no real record.
#   tests/fuzz/make_seeds.sh DIR
set -euo pipefail
dir=${1:?usage: make_seeds.sh DIR}
mkdir -p "$dir/mat" "$dir/hea" "$dir/labels"

# MATLAB v4 header: type, mrows, ncols, imagf, namlen (int32 little-endian).
hdr() { printf '%b' "$1" "$2" "$3" '\x00\x00\x00\x00' "$4"; }
one='\x01\x00\x00\x00'
five='\x05\x00\x00\x00'
four='\x04\x00\x00\x00'
samples='\x81\xff\x5e\xff\x3b\xff\x00\x00\xff\x7f'
{ hdr '\x1e\x00\x00\x00' "$one" "$five" "$four"; printf '%b' 'val\x00' "$samples"; } >"$dir/mat/int16_row"
{ hdr '\x1e\x00\x00\x00' "$five" "$one" "$four"; printf '%b' 'val\x00' "$samples"; } >"$dir/mat/int16_col"
{ hdr '\x00\x00\x00\x00' "$one" '\x02\x00\x00\x00' "$four"
  printf 'val\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x59\xc0'; } >"$dir/mat/double"
{ hdr '\x1e\x00\x00\x00' "$one" "$five" "$four"; printf 'val\x00\x81\xff\x5e'; } >"$dir/mat/truncated"
{ hdr '\x1e\x00\x00\x00' '\x02\x00\x00\x00' '\x02\x00\x00\x00' "$four"
  printf 'val\x00\x01\x00\x02\x00\x03\x00\x04\x00'; } >"$dir/mat/two_rows"
{ hdr '\x1e\x00\x00\x00' "$one" "$one" '\x06\x00\x00\x00'; printf 'value\x00\x01\x00'; } >"$dir/mat/other_name"
{ printf '\x00\x00\x04\x06\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04'
  printf 'val\x00\x00\x01'; } >"$dir/mat/big_endian"

printf 'A1 1 300 5 05:05:15 1/05/2000 \r\nA1.mat 16+24 1000/mV 16 0 -127 0 0 ECG \r\n' >"$dir/hea/cinc"
printf '# comment\nB2 1\nB2.mat 16\n' >"$dir/hea/minimal"
printf 'C3 2 360/1(0) 650000\nC3.dat 212 200(1024)/mV 11 1024 995 -22131 0 MLII\n' >"$dir/hea/two_signals"
printf 'C3.dat 212 200(1024)/mV 11 1024 995 -22131 0 V5\n' >>"$dir/hea/two_signals"
printf 'D4/2 1 250 100\nD4.mat 16 1000/uV\n' >"$dir/hea/odd"

printf 'A1,N\nA2,A\nA3,O\nA4,~\n' >"$dir/labels/lf"
printf '\xef\xbb\xbfA1,N\r\nA2,A\r\n\r\n A3 , O\r\n' >"$dir/labels/crlf_bom"
printf 'A1,N\nA1,O\nA2,X\n"A3",N\nA4\n"A5,~\n' >"$dir/labels/bad"

printf '%s\n' '"val\x00"' '"\x1e\x00\x00\x00"' '"\x00\x00\x00\x00"' '"\x01\x00\x00\x00"' \
  '"\x04\x00\x00\x00"' '"\xff\xff\xff\x7f"' >"$dir/mat.dict"
printf '%s\n' '"/mV"' '"16+24"' '"\x0d\x0a"' '"#"' '".mat"' '"(0)"' '" 1 300 "' '"/"' >"$dir/hea.dict"
printf '%s\n' '",N"' '",A"' '",O"' '",~"' '"\x0d\x0a"' '"\""' '"\xef\xbb\xbf"' >"$dir/labels.dict"
