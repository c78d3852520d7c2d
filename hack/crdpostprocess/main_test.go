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
              ports:
                items:
                  type: object
                type: array
                x-kubernetes-list-type: atomic
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
                      containers:
                        items:
                          properties:
                            name:
                              type: string
                            ports:
                              items:
                                properties:
                                  containerPort:
                                    format: int32
                                    type: integer
                                  protocol:
                                    default: TCP
                                    type: string
                                required: [containerPort]
                                type: object
                              type: array
                              x-kubernetes-list-map-keys: [containerPort, protocol]
                              x-kubernetes-list-type: map
                            resources:
                              properties:
                                limits:
                                  additionalProperties:
                                    anyOf: [{type: integer}, {type: string}]
                                    pattern: ^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$
                                    x-kubernetes-int-or-string: true
                                  type: object
                              type: object
                          required: [name]
                          type: object
                        type: array
                        x-kubernetes-list-map-keys: [name]
                        x-kubernetes-list-type: map
                      nodeSelector:
                        additionalProperties:
                          type: string
                        type: object
                        x-kubernetes-map-type: atomic
                    required: [containers]
                    type: object
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

// TestTypesOnlyTemplate: below spec.template.spec, what only the Pod API
// checks goes, and what decoding needs stays; elsewhere nothing changes.
func TestTypesOnlyTemplate(t *testing.T) {
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
	pod := lookup(spec, "template", "properties", "spec")
	containers := lookup(pod, "properties", "containers")
	port := lookup(containers, "items", "properties", "ports", "items")
	for what, got := range map[string]any{
		"the Pod spec's required":              lookup(pod, "required"),
		"containers' list type":                lookup(containers, "x-kubernetes-list-type"),
		"containers' list-map keys":            lookup(containers, "x-kubernetes-list-map-keys"),
		"a container's required":               lookup(containers, "items", "required"),
		"a port's required":                    lookup(port, "required"),
		"a port's protocol default":            lookup(port, "properties", "protocol", "default"),
		"nodeSelector's map type":              lookup(pod, "properties", "nodeSelector", "x-kubernetes-map-type"),
		"ports' list type below the container": lookup(containers, "items", "properties", "ports", "x-kubernetes-list-type"),
	} {
		if got != nil {
			t.Errorf("%s kept: %v", what, got)
		}
	}
	limit := lookup(containers, "items", "properties", "resources", "properties", "limits", "additionalProperties")
	for what, got := range map[string]any{
		"a container's type":         lookup(containers, "items", "type"),
		"containerPort's format":     lookup(port, "properties", "containerPort", "format"),
		"a quantity's int-or-string": lookup(limit, "x-kubernetes-int-or-string"),
		"a quantity's pattern":       lookup(limit, "pattern"),
		"a quantity's bound":         lookup(limit, "maxLength"),
		"nodeSelector's values":      lookup(pod, "properties", "nodeSelector", "additionalProperties", "type"),
	} {
		if got == nil {
			t.Errorf("%s dropped", what)
		}
	}
	if got := lookup(spec, "ports", "x-kubernetes-list-type"); got != "atomic" {
		t.Errorf("spec.ports' list type = %v, want it kept (atomic): only the template is types-only", got)
	}
}
