// Command crdpostprocess finishes the CRDs controller-gen generates, for
// what markers cannot express:
//
//  1. Bounded quantities. Every resource quantity (a corev1.ResourceList
//     value) gets maxLength 64. Without a bound, the API server's CEL cost
//     estimator assumes each quantity string may be megabytes long and
//     rejects the non-negativity rules on ResourceLists; no marker reaches
//     the values of a map type defined in another package.
//  2. Bounded label selectors. A metav1.LabelSelector's lists and strings
//     have no bounds, so CEL rules that check its expressions would be
//     refused as too costly; selectors listed in selectors get maxItems and
//     maxLength (at most 16 expressions of 64 values, 32 labels).
//  3. Trimmed embedded docs. The Task CRD embeds a full corev1.PodTemplateSpec; with its upstream
//
// descriptions the CRD is about 600 KB, over the 256 KB that client-side
// `kubectl apply` can record in its last-applied annotation. trimcrd drops the
// descriptions below each embedded core type (they are `kubectl explain pod`'s
// to give) and keeps kubeoffer's own field docs, so `make manifests` produces
// CRDs that apply with plain `kubectl apply -f`.
//
//  4. A types-only Pod template. Below the Task's spec.template.spec the
//     schema keeps what makes every stored Task decode into the Go types
//     (types, integer formats, int-or-string and the quantity pattern), so
//     unknown fields are still pruned and a wrongly typed field still
//     refused, and loses what only the Pod API needs to check: required
//     fields, list-map keys, list and map types, defaults. The API server
//     then neither defaults the template nor keys its lists on each write
//     (a write to a Task cost 4-6x one to a Pod, issue #15); the Pod agentd
//     creates from it is validated in full, and a Pod the API server
//     refuses ends the task in Error with its message.
//
// Usage: go run ./hack/crdpostprocess FILE...
package main

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// embedded lists, per CRD kind, the property paths (below the version's
// openAPIV3Schema) whose descendants lose their descriptions, with the
// description the trimmed property gets instead.
var embedded = map[string]map[string]string{
	"Task": {
		"spec.template": "template is the Pod the task runs (a Pod template: metadata and spec, " +
			"as in a Deployment; see `kubectl explain pod.spec`). Several containers make a Mesos task group. " +
			"agentd pins it to the agent's node, sets requests = limits = the task's resources, and restartPolicy Never. " +
			"Only the Pod spec's types are checked here: the Pod API checks the rest when agentd creates the Pod, " +
			"and a Pod it refuses ends the task in Error (reason PodRejected) with the API server's message.",
	},
}

// typesOnly lists, per CRD kind, the property paths whose schemas below
// keep only what decoding needs.
var typesOnly = map[string][]string{
	"Task": {"spec.template.spec"},
}

// podAPIOnly are the schema keywords typesOnly drops: what the Pod API
// checks when the Pod is created, and a decoder does not need.
var podAPIOnly = []string{"required", "default", "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type"}

// selectors lists, per CRD kind, the property paths of LabelSelectors to bound.
var selectors = map[string][]string{
	"Framework": {"spec.offerConstraints.attributeSelector"},
}

// Label selector bounds: a qualified name is at most 317 characters
// (a 253-character prefix, '/', 63 for the name), a label value 63.
const (
	maxSelectorExpressions = 16
	maxSelectorValues      = 64
	maxSelectorLabels      = 32
	maxQualifiedNameLength = 317
	maxLabelValueLength    = 63
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crdpostprocess FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := trimFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdpostprocess: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func trimFile(path string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading: %w", err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(in, &crd); err != nil {
		return fmt.Errorf("parsing: %w", err)
	}
	kind, _ := lookup(crd, "spec", "names", "kind").(string)
	versions, _ := lookup(crd, "spec", "versions").([]any)
	for _, v := range versions {
		boundQuantities(lookup(v, "schema", "openAPIV3Schema"))
	}
	for _, v := range versions {
		for _, p := range selectors[kind] {
			sel := property(lookup(v, "schema", "openAPIV3Schema"), p)
			if sel == nil {
				return fmt.Errorf("kind %s has no property %s", kind, p)
			}
			if err := boundSelector(sel); err != nil {
				return fmt.Errorf("bounding %s: %w", p, err)
			}
		}
	}
	for _, v := range versions {
		for _, p := range typesOnly[kind] {
			prop := property(lookup(v, "schema", "openAPIV3Schema"), p)
			if prop == nil {
				return fmt.Errorf("kind %s has no property %s", kind, p)
			}
			keepTypes(prop)
		}
	}
	paths := embedded[kind]
	for _, v := range versions {
		schema, _ := lookup(v, "schema", "openAPIV3Schema").(map[string]any)
		for p, doc := range paths {
			prop := schema
			for _, name := range strings.Split(p, ".") {
				prop, _ = lookup(prop, "properties", name).(map[string]any)
			}
			if prop == nil {
				return fmt.Errorf("kind %s has no property %s", kind, p)
			}
			dropDescriptions(prop)
			prop["description"] = doc
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

// lookup walks nested maps by key and returns nil when any step is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// property walks a schema's properties by a dotted path; nil when missing.
func property(schema any, path string) map[string]any {
	prop, _ := schema.(map[string]any)
	for _, name := range strings.Split(path, ".") {
		prop, _ = lookup(prop, "properties", name).(map[string]any)
	}
	return prop
}

// boundSelector sets maxItems, maxProperties and maxLength on a LabelSelector schema.
func boundSelector(sel map[string]any) error {
	exprs, _ := lookup(sel, "properties", "matchExpressions").(map[string]any)
	labels, _ := lookup(sel, "properties", "matchLabels").(map[string]any)
	item, _ := lookup(exprs, "items").(map[string]any)
	key, _ := lookup(item, "properties", "key").(map[string]any)
	values, _ := lookup(item, "properties", "values").(map[string]any)
	value, _ := lookup(values, "items").(map[string]any)
	labelValue, _ := lookup(labels, "additionalProperties").(map[string]any)
	if exprs == nil || labels == nil || key == nil || values == nil || value == nil || labelValue == nil {
		return fmt.Errorf("not a LabelSelector schema")
	}
	exprs["maxItems"] = maxSelectorExpressions
	key["maxLength"] = maxQualifiedNameLength
	values["maxItems"] = maxSelectorValues
	value["maxLength"] = maxLabelValueLength
	labels["maxProperties"] = maxSelectorLabels
	labelValue["maxLength"] = maxLabelValueLength
	return nil
}

// maxQuantityLength bounds a quantity's string form ("1500m", "64Gi", "1e3").
const maxQuantityLength = 64

// boundQuantities sets maxLength on every int-or-string schema that carries
// the Quantity pattern.
func boundQuantities(v any) {
	switch t := v.(type) {
	case map[string]any:
		if t["x-kubernetes-int-or-string"] == true {
			if p, _ := t["pattern"].(string); strings.Contains(p, "[KMGTPE]i") {
				t["maxLength"] = maxQuantityLength
			}
		}
		for _, child := range t {
			boundQuantities(child)
		}
	case []any:
		for _, child := range t {
			boundQuantities(child)
		}
	}
}

// keepTypes removes the podAPIOnly keywords from a schema and every schema
// below it (properties, items, additionalProperties, anyOf).
func keepTypes(schema map[string]any) {
	for _, k := range podAPIOnly {
		delete(schema, k)
	}
	if props, ok := schema["properties"].(map[string]any); ok {
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				keepTypes(m)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m, ok := schema[k].(map[string]any); ok {
			keepTypes(m)
		}
	}
	if alts, ok := schema["anyOf"].([]any); ok {
		for _, a := range alts {
			if m, ok := a.(map[string]any); ok {
				keepTypes(m)
			}
		}
	}
}

// dropDescriptions removes every "description" key below v (a JSON schema),
// but not a property that happens to be named "description".
func dropDescriptions(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if k == "description" {
				if _, isSchema := child.(string); isSchema {
					delete(t, k)
					continue
				}
			}
			dropDescriptions(child)
		}
	case []any:
		for _, child := range t {
			dropDescriptions(child)
		}
	}
}
