package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const taskCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  names:
    kind: Task
  versions:
  - name: v1alpha1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              resources:
                additionalProperties:
                  anyOf: [{type: integer}, {type: string}]
                  pattern: ^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$
                  x-kubernetes-int-or-string: true
                description: resources the task needs.
              template:
                description: upstream
                properties:
                  metadata:
                    description: long upstream text
                  spec:
                    properties:
                      description:
                        type: string
                        description: a field named description keeps its schema
`

func TestTrimFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(path, []byte(taskCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := trimFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec := lookup(crd["spec"].(map[string]any)["versions"].([]any)[0], "schema", "openAPIV3Schema", "properties", "spec", "properties")
	if got := lookup(spec, "resources", "additionalProperties", "maxLength"); got != float64(maxQuantityLength) {
		t.Errorf("quantity maxLength = %v, want %d", got, maxQuantityLength)
	}
	if got := lookup(spec, "resources", "description"); got != "resources the task needs." {
		t.Errorf("own description changed to %v", got)
	}
	if got, _ := lookup(spec, "template", "description").(string); !strings.Contains(got, "kubectl explain pod.spec") {
		t.Errorf("template description = %q, want the replacement", got)
	}
	if got := lookup(spec, "template", "properties", "metadata", "description"); got != nil {
		t.Errorf("embedded description kept: %v", got)
	}
	if got := lookup(spec, "template", "properties", "spec", "properties", "description", "type"); got != "string" {
		t.Errorf("property named description lost its schema: %v", lookup(spec, "template", "properties", "spec", "properties"))
	}
}
