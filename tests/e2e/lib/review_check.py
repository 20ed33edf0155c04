#!/usr/bin/env python3
"""Checks a project's .review.tsv against dcmdump of the project's de-identified files.

usage: review_check.py TSV DUMPDIR PLANTED [--paths-only]
  TSV      a copy of .review.tsv
  DUMPDIR  one `dcmdump -q +L -Un` output per file (*.txt)
  PLANTED  one planted string a line (the corpus manifest's identifying values)

Builds from the dumps the set of attribute paths in the notation of docs/review.md:
(GGGG,EEEE), nested ones as parent>child, private elements of a block whose creator is
known as (GGGG,"CREATOR",LL). Compares both ways with the file's paths; checks per path the
number of files, the distinct count of text values, that every example is a value the
dumps show at that path, and that no planted string appears. Prints one line per problem
and exits 1 on any; with --paths-only only compares the path sets (used while polling).
"""
import os
import re
import sys

TEXT_VRS = set("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
INT_VRS = set("US SS UL SL UV SV".split())
FLOAT_VRS = set("FL FD".split())
LINE = re.compile(r'^( *)\(([0-9a-f]{4}),([0-9a-f]{4})\) (..) (.*?)\s+# +(\S+), ')


def parse_dump(text):
    """[(path, vr, value or None, length)] of one file's dump."""
    out, seq, creators = [], {}, {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        indent, g, e, vr, rest, length = m.groups()
        g, e = int(g, 16), int(e, 16)
        if g == 0xFFFE:
            if e == 0xE000:  # a new item: its own private blocks
                lvl = (len(indent) + 2) // 4
                for k in [k for k in creators if k[0] >= lvl]:
                    del creators[k]
            continue
        lvl = len(indent) // 4
        value = None
        if rest.startswith('['):
            value = rest[1:rest.rindex(']')] if ']' in rest else rest[1:]
        elif rest.startswith('(no value'):
            value = ''
        elif vr == 'AT' or (not rest.startswith('(') and vr != 'SQ'):
            value = rest.strip()  # numbers, and binary values as hex
        if (g & 1) and 0x10 <= e <= 0xFF and value is not None:
            creators[(lvl, g, e)] = value.rstrip(' \0')
        comp = '(%04X,%04X)' % (g, e)
        if (g & 1) and e >= 0x1000 and (lvl, g, e >> 8) in creators:
            cr = creators[(lvl, g, e >> 8)]
            cr = cr.replace('\\', '\\\\').replace('"', '\\x22').replace('>', '\\x3e')
            comp = '(%04X,"%s",%02X)' % (g, cr, e & 0xFF)
        path = '>'.join([seq[k] for k in range(lvl)] + [comp])
        if vr == 'SQ' or rest.startswith('(Sequence'):
            seq[lvl] = comp
        out.append((path, vr, value, length))
    return out


def unescape(s):
    b, i = bytearray(), 0
    while i < len(s):
        if s[i] == '\\' and i + 1 < len(s):
            c = s[i + 1]
            if c == 'x':
                b.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            b.append({'t': 9, 'n': 10, 'r': 13, '\\': 92}[c])
            i += 2
            continue
        b.append(ord(s[i]))
        i += 1
    return b.decode('latin-1')


def example_ok(ex, vr, values, lengths):
    if ex == '<empty>':
        return '' in values or '0' in lengths
    if vr in TEXT_VRS:
        v = unescape(ex)
        if v.endswith('...') and len(v) > 64:
            return any(x.startswith(v[:-3]) for x in values)
        return v in values
    if vr == 'AT':
        return unescape(ex).lower() in {x.lower() for x in values}
    if vr in INT_VRS:
        return unescape(ex) in values
    if vr in FLOAT_VRS:
        want = [float(x) for x in unescape(ex).split('\\') if x != '...']
        for val in values:
            got = [float(x) for x in val.split('\\')[:len(want)]]
            if len(got) == len(want) and all(abs(a - b) <= 1e-5 * max(1, abs(a)) for a, b in zip(want, got)):
                return True
        return False
    m = re.match(r'^<(\d+) bytes', ex)
    return bool(m) and m.group(1) in lengths or ex == '<encapsulated>'


def path_key(path):
    """The order of docs/review.md: component by component, by tag, then creator."""
    key = []
    for c in path.split('>'):
        m = re.match(r'^\(([0-9A-F]{4}),"(.*)",([0-9A-F]{2})\)$', c)
        if m:
            cr = unescape(m.group(2))
            key.append((int(m.group(1), 16), 0x1000 | int(m.group(3), 16), len(cr), cr))
        else:
            key.append((int(c[1:5], 16), int(c[6:10], 16), 0, ''))
    return key


def main():
    tsv, dumpdir, planted = sys.argv[1:4]
    paths_only = '--paths-only' in sys.argv
    rows, bad = {}, []
    with open(tsv, encoding='latin-1') as f:
        lines = f.read().split('\n')
    if lines[0] != 'path\tkeyword\tvr\tinstances\tdistinct\texample1\texample2\texample3':
        bad.append('header line: %r' % lines[0])
    for line in lines[1:]:
        if not line:
            continue
        f = line.split('\t')
        if len(f) != 8:
            bad.append('row of %d fields: %r' % (len(f), line))
            continue
        rows[(f[0], f[2])] = f
    order = [l.split('\t')[0] for l in lines[1:] if l]
    want, files, values, lengths = set(), {}, {}, {}
    for name in sorted(os.listdir(dumpdir)):
        with open(os.path.join(dumpdir, name), encoding='latin-1') as f:
            seen = set()
            for path, vr, value, length in parse_dump(f.read()):
                key = (path, vr)
                want.add(key)
                seen.add(key)
                if value is not None:
                    values.setdefault(key, set()).add(value.rstrip(' \0'))
                lengths.setdefault(key, set()).add(length)
            for key in seen:
                files[key] = files.get(key, 0) + 1
    have = set(rows)
    for k in sorted(want - have):
        bad.append('in the files, not in the review: %s %s' % k)
    for k in sorted(have - want):
        bad.append('in the review, not in the files: %s %s' % k)
    if paths_only or bad:
        for b in bad[:20]:
            print(b)
        return 1 if bad else 0
    plant = [p for p in open(planted, encoding='latin-1').read().split('\n') if len(p) >= 4]
    for key, f in rows.items():
        path, vr = key
        if int(f[3]) != files[key]:
            bad.append('%s: %s instances, the files: %d' % (path, f[3], files[key]))
        vals = values.get(key, set())
        if vr in TEXT_VRS and not f[4].startswith('>=') and vals and all(len(v) < 60 for v in vals):
            if int(f[4]) != len(vals):
                bad.append('%s: %s distinct, the files: %d' % (path, f[4], len(vals)))
        for ex in f[5:8]:
            if ex and not example_ok(ex, vr, vals, lengths.get(key, set())):
                bad.append('%s %s: example %r is not a value of the files' % (path, vr, ex))
            for p in plant:
                if ex and p in unescape(ex):
                    bad.append('%s: example %r holds a planted string' % (path, ex))
    if order != sorted(order, key=path_key):
        bad.append('rows are not sorted by path')
    for b in bad[:30]:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
