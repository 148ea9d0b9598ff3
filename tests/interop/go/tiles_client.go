// tiles_client reads a C2SP tlog-tiles log over HTTP with Go's golang.org/x/mod/sumdb
// packages (note for the checkpoint's signature, tlog for the tiles and proofs), as a
// verifier who never saw our code would: nothing here comes from the evidence project.
//
//	tiles_client -url http://host/tlog/ -key <verifier key> [-old old-checkpoint-file]
//
// It fetches and verifies the checkpoint, reads the hash tiles through tlog.TileHashReader
// (which authenticates every tile against the checkpoint's root), fetches every entry
// bundle, hashes each entry itself (tlog.RecordHash) and checks it against the level-0
// tile and with an inclusion proof (tlog.ProveRecord / tlog.CheckRecord). With -old it
// also proves the older checkpoint's tree is a prefix of this one (tlog.ProveTree /
// tlog.CheckTree). It prints one JSON object; any failure exits 1 with the reason.
//
// Go's tile paths carry the tile height ("tile/8/0/001"); C2SP tlog-tiles fixes the
// height at 8 and leaves it out ("tile/0/001"), and names entry bundles "tile/entries/"
// where Go says "tile/8/data/". Those two renamings are the only translation done here.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tiles_client: "+format+"\n", args...)
	os.Exit(1)
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return body, nil
}

// c2spPath turns Go's tile path into the C2SP one.
func c2spPath(t tlog.Tile) string {
	p := t.Path()
	if t.L == -1 {
		return "tile/entries/" + strings.TrimPrefix(p, fmt.Sprintf("tile/%d/data/", height))
	}
	return "tile/" + strings.TrimPrefix(p, fmt.Sprintf("tile/%d/", height))
}

type tileReader struct {
	base    string
	cache   map[string][]byte
	fetched int
}

func (r *tileReader) Height() int { return height }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := c2spPath(t)
		data, ok := r.cache[p]
		if !ok {
			var err error
			data, err = get(r.base + p)
			if err != nil {
				return nil, err
			}
			r.fetched++
			r.cache[p] = data
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s is %d bytes, not %d", p, len(data), t.W*tlog.HashSize)
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func openCheckpoint(raw []byte, v note.Verifier) checkpoint {
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint has %d lines", len(lines))
	}
	if lines[0] != v.Name() {
		fail("checkpoint origin %q is not the key's name %q", lines[0], v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		fail("checkpoint size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("checkpoint root %q", lines[2])
	}
	var h tlog.Hash
	copy(h[:], root)
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: h}}
}

func main() {
	base := flag.String("url", "", "the log's tiles prefix (http://host/tlog/)")
	key := flag.String("key", "", "the log's verifier key")
	old := flag.String("old", "", "a file with an older checkpoint of the same log")
	flag.Parse()
	if *base == "" || *key == "" {
		fail("-url and -key are required")
	}
	prefix := strings.TrimSuffix(*base, "/") + "/"
	v, err := note.NewVerifier(*key)
	if err != nil {
		fail("verifier key: %v", err)
	}
	raw, err := get(prefix + "checkpoint")
	if err != nil {
		fail("%v", err)
	}
	cp := openCheckpoint(raw, v)
	size := cp.tree.N
	tr := &tileReader{base: prefix, cache: map[string][]byte{}}
	hr := tlog.TileHashReader(cp.tree, tr)

	if size > 0 {
		th, err := tlog.TreeHash(size, hr)
		if err != nil {
			fail("tree hash from tiles: %v", err)
		}
		if th != cp.tree.Hash {
			fail("the tiles' tree hash %v is not the checkpoint's %v", th, cp.tree.Hash)
		}
	}

	digest := sha256.New()
	checked := 0
	for n := int64(0); n*(1<<height) < size; n++ {
		w := size - n*(1<<height)
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: n, W: int(w)}
		bundle, err := get(prefix + c2spPath(t))
		if err != nil {
			fail("%v", err)
		}
		var indexes []int64
		var records []tlog.Hash
		for pos := 0; pos < len(bundle); {
			if pos+2 > len(bundle) {
				fail("%s: truncated length prefix", c2spPath(t))
			}
			l := int(binary.BigEndian.Uint16(bundle[pos:]))
			if pos+2+l > len(bundle) {
				fail("%s: truncated entry", c2spPath(t))
			}
			entry := bundle[pos+2 : pos+2+l]
			pos += 2 + l
			i := n*(1<<height) + int64(len(records))
			indexes = append(indexes, tlog.StoredHashIndex(0, i))
			records = append(records, tlog.RecordHash(entry))
			var lb [8]byte
			binary.BigEndian.PutUint64(lb[:], uint64(len(entry)))
			digest.Write(lb[:])
			digest.Write(entry)
		}
		if int64(len(records)) != w {
			fail("%s holds %d entries, not %d", c2spPath(t), len(records), w)
		}
		hashes, err := hr.ReadHashes(indexes)
		if err != nil {
			fail("level-0 hashes of bundle %d: %v", n, err)
		}
		for k, rh := range records {
			i := n*(1<<height) + int64(k)
			if hashes[k] != rh {
				fail("entry %d hashes to %v, the tile says %v", i, rh, hashes[k])
			}
			p, err := tlog.ProveRecord(size, i, hr)
			if err != nil {
				fail("inclusion proof of %d: %v", i, err)
			}
			if err := tlog.CheckRecord(p, size, cp.tree.Hash, i, rh); err != nil {
				fail("inclusion proof of %d does not check: %v", i, err)
			}
			checked++
		}
	}

	result := map[string]interface{}{
		"origin":         cp.origin,
		"size":           size,
		"root":           hex.EncodeToString(cp.tree.Hash[:]),
		"entries_digest": hex.EncodeToString(digest.Sum(nil)),
		"proofs_checked": checked,
	}
	if *old != "" {
		rawOld, err := os.ReadFile(*old)
		if err != nil {
			fail("%v", err)
		}
		o := openCheckpoint(rawOld, v)
		if o.tree.N > size {
			fail("the older checkpoint (size %d) is larger than this one (%d)", o.tree.N, size)
		}
		if o.tree.N > 0 {
			p, err := tlog.ProveTree(size, o.tree.N, hr)
			if err != nil {
				fail("consistency proof %d -> %d: %v", o.tree.N, size, err)
			}
			if err := tlog.CheckTree(p, size, cp.tree.Hash, o.tree.N, o.tree.Hash); err != nil {
				fail("the log of size %d is not an extension of size %d: %v", size, o.tree.N, err)
			}
		}
		result["consistent_from"] = o.tree.N
	}
	result["tiles_fetched"] = tr.fetched
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fail("%v", err)
	}
}
