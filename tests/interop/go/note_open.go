// note_open opens a signed note with Go's golang.org/x/mod/sumdb/note, as a verifier who
// never saw our code would, and prints one JSON object: the note's text, the signatures
// that verified by the keys given, and the signature lines it ignored (unknown keys).
//
//	note_open -key <verifier key> [-key <verifier key> ...] NOTE-FILE
//
// note.Open ignores signature lines by keys it does not know (it has no ML-DSA-44 type):
// tests/interop/test_note_mldsa_go.py holds that our checkpoints with their ML-DSA-44
// line still open under the log's Ed25519 key. Any failure exits 1 with the reason.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type keys []string

func (k *keys) String() string     { return strings.Join(*k, ",") }
func (k *keys) Set(v string) error { *k = append(*k, v); return nil }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "note_open: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var ks keys
	flag.Var(&ks, "key", "a verifier key (repeat)")
	flag.Parse()
	if flag.NArg() != 1 || len(ks) == 0 {
		fail("usage: note_open -key VKEY [-key VKEY ...] NOTE-FILE")
	}
	var vs []note.Verifier
	for _, k := range ks {
		v, err := note.NewVerifier(k)
		if err != nil {
			fail("verifier key %q: %v", k, err)
		}
		vs = append(vs, v)
	}
	raw, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(raw, note.VerifierList(vs...))
	if err != nil {
		fail("open: %v", err)
	}
	type sig struct {
		Name string `json:"name"`
		Hash string `json:"key_id"`
	}
	out := struct {
		Text       string `json:"text"`
		Verified   []sig  `json:"verified"`
		Unverified []sig  `json:"unverified"`
	}{Text: n.Text, Verified: []sig{}, Unverified: []sig{}}
	for _, s := range n.Sigs {
		out.Verified = append(out.Verified, sig{s.Name, fmt.Sprintf("%08x", s.Hash)})
	}
	for _, s := range n.UnverifiedSigs {
		out.Unverified = append(out.Unverified, sig{s.Name, fmt.Sprintf("%08x", s.Hash)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("%v", err)
	}
}
