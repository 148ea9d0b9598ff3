// A minimal c2sp.org/tlog-witness server written from the spec text for the interop
// test (tests/interop/test_witness_go.py), with nothing of this project: log signatures
// checked by golang.org/x/mod/sumdb/note, consistency proofs by sumdb/tlog (RFC 6962),
// cosignatures made as c2sp.org/tlog-cosignature describes (cosignature/v1, key type
// 0x04) with crypto/ed25519. One log, state in memory.
//
// Prints "URL VKEY" on its first line of output, then serves until killed.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	mu       sync.Mutex
	size     int64
	root     tlog.Hash
	name     string
	priv     ed25519.PrivateKey
	keyID    []byte
	verifier note.Verifier
	origin   string
)

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func addCheckpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, 405, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, 400, "cannot read body")
		return
	}
	i := bytes.Index(body, []byte("\n\n"))
	if i < 0 {
		fail(w, 400, "no empty line")
		return
	}
	lines := strings.Split(string(body[:i]), "\n")
	if !strings.HasPrefix(lines[0], "old ") {
		fail(w, 400, "no old size line")
		return
	}
	old, err := strconv.ParseInt(lines[0][4:], 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != lines[0][4:] {
		fail(w, 400, "bad old size")
		return
	}
	var proof tlog.TreeProof
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			fail(w, 400, "bad proof line")
			return
		}
		var hh tlog.Hash
		copy(hh[:], h)
		proof = append(proof, hh)
	}
	if len(proof) > 63 {
		fail(w, 400, "too many proof lines")
		return
	}
	msg := body[i+2:]
	// the origin first: unknown -> 404, before any signature is looked at
	text := string(msg)
	if j := strings.Index(text, "\n\n"); j >= 0 {
		text = text[:j+1]
	}
	cp := strings.SplitN(text, "\n", 4)
	if len(cp) < 4 {
		fail(w, 400, "not a checkpoint")
		return
	}
	if cp[0] != origin {
		fail(w, 404, "unknown log")
		return
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail(w, 403, "no trusted signature: "+err.Error())
		return
	}
	cp = strings.SplitN(n.Text, "\n", 4)
	newSize, err := strconv.ParseInt(cp[1], 10, 64)
	if err != nil || newSize < 0 {
		fail(w, 400, "bad checkpoint size")
		return
	}
	rb, err := base64.StdEncoding.DecodeString(cp[2])
	if err != nil || len(rb) != tlog.HashSize {
		fail(w, 400, "bad checkpoint root")
		return
	}
	var newRoot tlog.Hash
	copy(newRoot[:], rb)

	mu.Lock()
	defer mu.Unlock()
	if old > newSize {
		fail(w, 400, "old size larger than checkpoint size")
		return
	}
	if old != size {
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(409)
		fmt.Fprintf(w, "%d\n", size)
		return
	}
	if old == newSize {
		if len(proof) != 0 || newRoot != root {
			fail(w, 409, "same size, another root")
			return
		}
	} else if old == 0 {
		if len(proof) != 0 {
			fail(w, 422, "proof must be empty from size 0")
			return
		}
	} else if err := tlog.CheckTree(proof, newSize, newRoot, old, root); err != nil {
		fail(w, 422, "consistency proof: "+err.Error())
		return
	}
	size, root = newSize, newRoot

	// c2sp.org/tlog-cosignature: sign "cosignature/v1\ntime <t>\n" + the checkpoint text
	t := uint64(time.Now().Unix())
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), []byte(n.Text)...)
	sig := ed25519.Sign(priv, signed)
	ts := make([]byte, 8)
	binary.BigEndian.PutUint64(ts, t)
	blob := append(append(append([]byte{}, keyID...), ts...), sig...)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "\u2014 %s %s\n", name, base64.StdEncoding.EncodeToString(blob))
}

func main() {
	logKey := flag.String("log-key", "", "the log's verifier key (sumdb/note vkey)")
	flag.StringVar(&origin, "origin", "", "the log's origin")
	flag.StringVar(&name, "name", "go-witness.example/w", "the witness's key name")
	flag.Parse()
	var err error
	if verifier, err = note.NewVerifier(*logKey); err != nil {
		fmt.Fprintln(os.Stderr, "bad -log-key:", err)
		os.Exit(2)
	}
	pub, p, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	priv = p
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), pub...))
	keyID = h[:4]
	vkey := fmt.Sprintf("%s+%x+%s", name, keyID,
		base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "http://%s %s\n", ln.Addr(), vkey)
	out.Flush()
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", addCheckpoint)
	panic(http.Serve(ln, mux))
}
