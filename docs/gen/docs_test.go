package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sdgo/sdgo/internal/testdata"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/tokenizer"
	"github.com/sdgo/sdgo/unet"
)

// These tests keep the walkthrough honest: every Go name it cites exists,
// every image and file it links to exists, every Go snippet is copied from
// a compiled Example, every command-line flag it shows is a real flag, and
// the tables it shows are what the code computes (rewrite them with
// `go test ./docs/gen -run TestGenerated -update`).

var update = flag.Bool("update", false, "rewrite the generated sections of the docs")

// root is the repository root, seen from docs/gen.
const root = "../.."

// packages maps the package names the docs cite to their folders.
var packages = map[string]string{
	"tokenizer": "tokenizer", "clip": "clip", "unet": "unet", "scheduler": "scheduler", "vae": "vae",
	"pipeline": "pipeline", "prompt": "prompt", "rng": "rng", "weights": "weights", "nn": "nn",
	"gemm": "internal/gemm", "gen": "docs/gen", "figure": "internal/figure", "sdmini": "sdmini", "shapes": "shapes", "grad": "grad", "layer": "nn/layer",
}

// docFiles lists the markdown files these tests check.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(root, "docs", "walkthrough.md"), filepath.Join(root, "docs", "sd-mini.md"), filepath.Join(root, "samples", "README.md"), filepath.Join(root, "docs", "lora.md")}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "walkthrough", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, pages...)
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// decls are the declarations of one package.
type decls struct {
	names    map[string]bool            // top-level funcs, types, vars, consts
	members  map[string]map[string]bool // type → its methods and fields
	embeds   map[string][]string        // type → the types it embeds
	examples map[string]string          // Example function → its source
}

var declCache = map[string]*decls{}

// parsePackage collects the declarations of the package in dir: names and
// members from its non-test files, Example functions from its tests.
func parsePackage(dir string) (*decls, error) {
	if d, ok := declCache[dir]; ok {
		return d, nil
	}
	d := &decls{names: map[string]bool{}, members: map[string]map[string]bool{}, embeds: map[string][]string{}, examples: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	member := func(typ, name string) {
		if d.members[typ] == nil {
			d.members[typ] = map[string]bool{}
		}
		d.members[typ][name] = true
	}
	fset := token.NewFileSet()
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		test := strings.HasSuffix(path, "_test.go")
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				switch {
				case test && decl.Recv == nil && strings.HasPrefix(decl.Name.Name, "Example"):
					d.examples[decl.Name.Name] = string(src[fset.Position(decl.Pos()).Offset:fset.Position(decl.End()).Offset])
				case test:
				case decl.Recv == nil:
					d.names[decl.Name.Name] = true
				default:
					member(typeName(decl.Recv.List[0].Type), decl.Name.Name)
				}
			case *ast.GenDecl:
				if test {
					continue
				}
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						d.names[spec.Name.Name] = true
						if it, ok := spec.Type.(*ast.InterfaceType); ok {
							for _, m := range it.Methods.List {
								for _, n := range m.Names {
									member(spec.Name.Name, n.Name)
								}
							}
						}
						st, ok := spec.Type.(*ast.StructType)
						if !ok {
							continue
						}
						for _, field := range st.Fields.List {
							if len(field.Names) == 0 {
								d.embeds[spec.Name.Name] = append(d.embeds[spec.Name.Name], typeName(field.Type))
							}
							for _, n := range field.Names {
								member(spec.Name.Name, n.Name)
							}
						}
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							d.names[n.Name] = true
						}
					}
				}
			}
		}
	}
	declCache[dir] = d
	return d, nil
}

// typeName is the name of a receiver or embedded type: T, *T, T[X].
func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return typeName(e.X)
	case *ast.IndexExpr:
		return typeName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// has reports whether type typ has the method or field name, directly or
// through an embedded type of the same package.
func (d *decls) has(typ, name string, depth int) bool {
	if d.members[typ][name] {
		return true
	}
	if depth > 4 {
		return false
	}
	for _, e := range d.embeds[typ] {
		if d.has(e, name, depth+1) {
			return true
		}
	}
	return false
}

// A markdown document split into its prose (with inline code) and its
// fenced code blocks.
type block struct {
	Lang  string
	Lines []string
	Line  int // line number of the opening fence
}

func splitMarkdown(text string) (prose []string, blocks []block) {
	var cur *block
	for i, l := range strings.Split(text, "\n") {
		if q, ok := strings.CutPrefix(strings.TrimLeft(l, " "), ">"); ok { // a block quote
			l = strings.TrimPrefix(q, " ")
		}
		trim := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(trim, "```"):
			cur = &block{Lang: strings.TrimPrefix(trim, "```"), Line: i + 1}
			prose = append(prose, "")
		case cur != nil && trim == "```":
			blocks = append(blocks, *cur)
			cur = nil
			prose = append(prose, "")
		case cur != nil:
			cur.Lines = append(cur.Lines, l)
			prose = append(prose, "")
		default:
			prose = append(prose, l)
		}
	}
	return prose, blocks
}

var (
	reCode   = regexp.MustCompile("`([^`\n]+)`")
	reMethod = regexp.MustCompile(`^\(\*?([a-z][a-z0-9]*)\.([A-Za-z_]\w*)\)\.([A-Za-z_]\w*)(\(\))?$`)
	reName   = regexp.MustCompile(`^([a-z][a-z0-9]*)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(\(\))?$`)
	reLink   = regexp.MustCompile(`(!?)\[[^\]]*\]\(([^)\s]+)\)`)
	reCite   = regexp.MustCompile(`^// ([a-z][a-z0-9]*)\.(Example\w*)`)
)

// goRef is a Go name cited in the docs.
type goRef struct {
	pkg, name, member string
}

// refsIn extracts the Go references from the inline code of prose lines.
func refsIn(prose []string) (refs []goRef, lines []int) {
	for i, l := range prose {
		for _, m := range reCode.FindAllStringSubmatch(l, -1) {
			code := strings.TrimSpace(m[1])
			var r goRef
			if mm := reMethod.FindStringSubmatch(code); mm != nil {
				r = goRef{mm[1], mm[2], mm[3]}
			} else if mm := reName.FindStringSubmatch(code); mm != nil {
				r = goRef{mm[1], mm[2], mm[3]}
			} else {
				continue
			}
			if _, ok := packages[r.pkg]; !ok {
				continue
			}
			if r.pkg != "gen" && !isExported(r.name) { // file names such as unet.go, not Go names
				continue
			}
			refs, lines = append(refs, r), append(lines, i+1)
		}
	}
	return refs, lines
}

// isExported reports whether s starts with an upper-case ASCII letter.
func isExported(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// check reports whether the reference names a real declaration.
func (r goRef) check() error {
	d, err := parsePackage(filepath.Join(root, packages[r.pkg]))
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(r.name, "Example"):
		if _, ok := d.examples[r.name]; !ok {
			return fmt.Errorf("%s.%s: no such Example", r.pkg, r.name)
		}
	case !d.names[r.name]:
		return fmt.Errorf("%s.%s: not declared in %s", r.pkg, r.name, packages[r.pkg])
	case r.member != "" && !d.has(r.name, r.member, 0):
		return fmt.Errorf("%s.%s.%s: %s has no method or field %s", r.pkg, r.name, r.member, r.name, r.member)
	}
	return nil
}

// Every Go name the docs cite in backticks exists.
func TestDocsReferences(t *testing.T) {
	total := 0
	for _, path := range docFiles(t) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		prose, _ := splitMarkdown(string(text))
		refs, lines := refsIn(prose)
		for i, r := range refs {
			if err := r.check(); err != nil {
				t.Errorf("%s:%d: %v", path, lines[i], err)
			}
		}
		total += len(refs)
	}
	if total < 50 {
		t.Errorf("only %d Go references in the docs: is the extraction broken?", total)
	}
	t.Logf("%d Go references checked", total)
}

// A renamed or removed declaration is caught.
func TestDocsReferenceCheckFails(t *testing.T) {
	for _, code := range []string{
		"`unet.NoSuchThing`", "`(*unet.Model).NoSuchMethod`", "`unet.Model.NoSuchField`",
		"`scheduler.ExampleNoSuch`", "`gen.noSuchFigure`",
	} {
		refs, _ := refsIn([]string{"see " + code})
		if len(refs) != 1 {
			t.Errorf("%s: %d references extracted, want 1", code, len(refs))
			continue
		}
		if refs[0].check() == nil {
			t.Errorf("%s: accepted", code)
		}
	}
	for _, code := range []string{"`(*scheduler.Euler).Sigmas`", "`unet.Model.Trace`", "`gen.tokenTable`", "`figure.Schedule`", "`scheduler.ExampleNew`"} {
		refs, _ := refsIn([]string{code})
		if len(refs) != 1 || refs[0].check() != nil {
			t.Errorf("%s: rejected", code)
		}
	}
}

// Every link to an image or a local file points at something that exists,
// and every image is a PNG.
func TestDocsLinks(t *testing.T) {
	images := 0
	for _, path := range docFiles(t) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		prose, _ := splitMarkdown(string(text))
		for i, l := range prose {
			for _, m := range reLink.FindAllStringSubmatch(l, -1) {
				target := m[2]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				p := filepath.Join(filepath.Dir(path), target)
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s:%d: link %s: %v", path, i+1, m[2], err)
				}
				if m[1] == "!" {
					images++
					if filepath.Ext(target) != ".png" {
						t.Errorf("%s:%d: image %s is not a PNG", path, i+1, target)
					}
				}
			}
		}
	}
	if images < 5 {
		t.Errorf("only %d images linked", images)
	}
}

// Every Go snippet cites the Example it is copied from on its first line
// ("// pkg.ExampleName"), and its lines appear in that Example in order.
func TestDocsSnippets(t *testing.T) {
	n := 0
	for _, path := range docFiles(t) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, blocks := splitMarkdown(string(text))
		for _, b := range blocks {
			if b.Lang != "go" {
				continue
			}
			n++
			if err := checkSnippet(b.Lines); err != nil {
				t.Errorf("%s:%d: %v", path, b.Line, err)
			}
		}
	}
	if n == 0 {
		t.Error("no Go snippets found")
	}
}

// checkSnippet checks one snippet against the Example its first line cites.
func checkSnippet(lines []string) error {
	if len(lines) == 0 {
		return fmt.Errorf("empty snippet")
	}
	m := reCite.FindStringSubmatch(strings.TrimSpace(lines[0]))
	if m == nil {
		return fmt.Errorf("snippet does not start with // pkg.ExampleName: %q", lines[0])
	}
	dir, ok := packages[m[1]]
	if !ok {
		return fmt.Errorf("unknown package %s", m[1])
	}
	d, err := parsePackage(filepath.Join(root, dir))
	if err != nil {
		return err
	}
	src, ok := d.examples[m[2]]
	if !ok {
		return fmt.Errorf("%s.%s: no such Example", m[1], m[2])
	}
	var have []string
	for _, l := range strings.Split(src, "\n") {
		have = append(have, strings.TrimSpace(l))
	}
	k := 0
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" || l == "…" || l == "// …" {
			continue
		}
		for k < len(have) && have[k] != l {
			k++
		}
		if k == len(have) {
			return fmt.Errorf("line %q is not in %s.%s (or out of order)", l, m[1], m[2])
		}
		k++
	}
	return nil
}

// The snippet check rejects edited lines.
func TestCheckSnippetFails(t *testing.T) {
	good := []string{"// gen.Example_guidance", "for _, g := range []float32{1, 7.5} {", "…", "eps[j] = epsU[j] + g*(epsC[j]-epsU[j])"}
	if err := checkSnippet(good); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{
		{"for _, g := range []float32{1, 7.5} {"},
		{"// gen.Example_nothing", "x := 1"},
		{"// gen.Example_guidance", "eps[j] = epsU[j] - g*(epsC[j]-epsU[j])"},
		{"// gen.Example_guidance", "eps[j] = epsU[j] + g*(epsC[j]-epsU[j])", "for _, g := range []float32{1, 7.5} {"},
	} {
		if checkSnippet(bad) == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// Every flag the docs pass to the sdgo command or to this generator exists.
func TestDocsFlags(t *testing.T) {
	read := func(pattern string) string {
		files, _ := filepath.Glob(filepath.Join(root, pattern))
		var sb strings.Builder
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sb.Write(b)
		}
		return sb.String()
	}
	sdgo, genSrc := read("cmd/sdgo/*.go"), read("docs/gen/*.go")
	n := 0
	for _, path := range docFiles(t) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, blocks := splitMarkdown(string(text))
		for _, b := range blocks {
			if b.Lang != "sh" {
				continue
			}
			for _, l := range b.Lines {
				src := ""
				switch {
				case strings.Contains(l, "./docs/gen"):
					src = genSrc
				case strings.Contains(l, "./cmd/sdgo") || strings.HasPrefix(strings.TrimSpace(l), "sdgo "):
					src = sdgo
				default:
					continue
				}
				for _, f := range strings.Fields(l) {
					if !strings.HasPrefix(f, "-") || f == "-" {
						continue
					}
					name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
					if !strings.Contains(src, `"`+name+`"`) {
						t.Errorf("%s:%d: flag %s is not defined: %s", path, b.Line, f, strings.TrimSpace(l))
					}
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Error("no command lines found")
	}
}

// generated are the doc sections the code computes, by marker name.
var generated = map[string]func(t *testing.T) string{
	"unet-shapes-sd15": func(t *testing.T) string {
		return shapeTable(unetShapes(unet.SD15(), 2, 64, 64))
	},
	"unet-shapes-sdmini": func(t *testing.T) string {
		return shapeTable(unetShapes(sdmini.UNetConfig(), 2, sdmini.ImageSize/8, sdmini.ImageSize/8))
	},
	"tokens-rare": func(t *testing.T) string {
		tok, err := tokenizer.Load(testdata.Dir(t, "pipeline/diffusers/tokenizer"))
		if err != nil {
			t.Fatal(err)
		}
		return tokenTable(tok, "a reddish trapezoid drawn by sdgo", tokenizer.PadSD1)
	},
	"tokens-prompt": func(t *testing.T) string {
		tok, err := tokenizer.Load(testdata.Dir(t, "pipeline/diffusers/tokenizer"))
		if err != nil {
			t.Fatal(err)
		}
		return tokenTable(tok, defaultSetup().Prompt, tokenizer.PadSD1)
	},
}

// The generated sections of the docs (between <!-- gen:NAME --> and
// <!-- /gen:NAME -->) are what the code computes now.
func TestGenerated(t *testing.T) {
	found := map[string]bool{}
	for _, path := range docFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		names := sortedKeys(generated)
		for _, name := range names {
			begin, end := "<!-- gen:"+name+" -->\n", "<!-- /gen:"+name+" -->"
			i := strings.Index(text, begin)
			if i < 0 {
				continue
			}
			j := strings.Index(text[i:], end)
			if j < 0 {
				t.Fatalf("%s: %s has no end marker", path, name)
			}
			found[name] = true
			var want string
			t.Run(name, func(t *testing.T) { want = generated[name](t) })
			if want == "" { // skipped: no reference data
				continue
			}
			got := text[i+len(begin) : i+j]
			if got == want {
				continue
			}
			if *update {
				text = text[:i+len(begin)] + want + text[i+j:]
				continue
			}
			t.Errorf("%s: section %s is out of date (go test ./docs/gen -run TestGenerated -update):\n got:\n%s\nwant:\n%s", path, name, got, want)
		}
		if *update && !bytes.Equal(data, []byte(text)) {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range generated {
		if !found[name] {
			t.Errorf("section %s is in no doc", name)
		}
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}
