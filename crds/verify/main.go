// Admission without a cluster: validates a CRD with the API server's own code
// (k8s.io/apiextensions-apiserver), as `kubectl apply` of the CRD would
// (structural schema, CEL compilation and cost estimation), then runs each
// object of a cases file through what the API server does to a custom
// resource on create: pruning (unknown fields, as strict field validation
// reports them), defaulting, OpenAPI schema validation, list-type
// (set/map) uniqueness, and CEL rules. Not a full admission chain (no
// webhooks, no metadata validation, no server-side apply).
//
//	cd crds/verify && go run . ../turnout.dev_routes.yaml cases.yaml
//
// Cases are YAML documents {name, want, object}: want is "ok" or a part of
// the expected error. Exit status 1 when any case disagrees. `npm test` runs it
// (npm run test:crd; the first run downloads the Kubernetes modules and builds
// for about a minute); controller/k8s/crd.test.ts checks the same files for
// what TypeScript can.
package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

type testCase struct {
	Name   string                 `json:"name"`
	Want   string                 `json:"want"`
	Object map[string]interface{} `json:"object"`
}

func main() {
	data, err := os.ReadFile(os.Args[1])
	must(err)
	var v1crd apiextensionsv1.CustomResourceDefinition
	must(yaml.UnmarshalStrict(data, &v1crd))
	scheme := runtime.NewScheme()
	must(apiextensionsv1.AddToScheme(scheme))
	must(apiextensions.AddToScheme(scheme))
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
	var internal apiextensions.CustomResourceDefinition
	must(scheme.Convert(&v1crd, &internal, nil))
	errs := validation.ValidateCustomResourceDefinition(context.TODO(), &internal)
	fails := 0
	for _, e := range errs {
		fmt.Println("CRD:", e)
		fails++
	}
	if fails > 0 {
		os.Exit(1)
	}
	fmt.Println("CRD: valid (structural schema, CEL compiled within cost limits)")
	if len(os.Args) < 3 {
		return
	}
	props := internal.Spec.Validation
	if props == nil {
		props = internal.Spec.Versions[0].Schema
	}
	ss, err := structuralschema.NewStructural(props.OpenAPIV3Schema)
	must(err)
	validator, _, err := apiservervalidation.NewSchemaValidator(props.OpenAPIV3Schema)
	must(err)
	celValidator := cel.NewValidator(ss, true, celconfig.PerCallLimit)

	raw, err := os.ReadFile(os.Args[2])
	must(err)
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		must(err)
		js, err := yaml.YAMLToJSON(doc)
		must(err)
		if strings.TrimSpace(string(js)) == "null" {
			continue
		}
		var tc testCase
		must(utiljson.Unmarshal(js, &tc))
		// Re-decode the object so numbers are int64 as in the API server.
		objJSON, _ := utiljson.Marshal(tc.Object)
		var obj map[string]interface{}
		must(utiljson.Unmarshal(objJSON, &obj))
		var problems []string
		unknown := pruning.PruneWithOptions(obj, ss, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
		for _, u := range unknown {
			problems = append(problems, "unknown field "+u)
		}
		structuraldefaulting.Default(obj, ss)
		var all field.ErrorList
		all = append(all, apiservervalidation.ValidateCustomResource(nil, obj, validator)...)
		all = append(all, listtype.ValidateListSetsAndMaps(nil, ss, obj)...)
		celErrs, remaining := celValidator.Validate(context.TODO(), nil, ss, obj, nil, celconfig.RuntimeCELCostBudget)
		all = append(all, celErrs...)
		for _, e := range all {
			problems = append(problems, e.Error())
		}
		got := strings.Join(problems, "\n")
		ok := false
		if tc.Want == "ok" {
			ok = len(problems) == 0
		} else {
			ok = strings.Contains(got, tc.Want)
		}
		status := "PASS"
		if !ok {
			status = "FAIL"
			fails++
		}
		fmt.Printf("%s %s (cost used %d)\n", status, tc.Name, celconfig.RuntimeCELCostBudget-remaining)
		if !ok || os.Getenv("VERBOSE") != "" {
			fmt.Printf("    want: %s\n    got:  %s\n", tc.Want, strings.ReplaceAll(got, "\n", "\n          "))
		}
	}
	fmt.Printf("%d failed\n", fails)
	if fails > 0 {
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
