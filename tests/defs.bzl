"""Test macros: one doctest binary per unit-<feature>.cpp, header self-containment."""

def unit_tests(srcs, deps = [], size = "small", **kwargs):
    """A cc_test per source file, named after it, linked with the shared doctest main."""
    for src in srcs:
        native.cc_test(
            name = src[:-len(".cpp")],
            srcs = [src],
            size = size,
            deps = deps + [
                "//tests:doctest_main",
                "//third_party:doctest",
            ],
            **kwargs
        )

def self_contained_headers(name, hdrs, strip_prefix, deps):
    """Compiles one translation unit per header that includes only that header.

    The test fails to build, and so counts as failed, when any header does
    not compile on its own.
    """
    srcs = []
    for hdr in hdrs:
        include = hdr[len(strip_prefix):]
        stem = include.replace("/", "_").replace(".", "_")
        src = "_%s/%s.cpp" % (name, stem)
        native.genrule(
            name = "_%s_%s" % (name, stem),
            outs = [src],
            cmd = "echo '#include <%s>' > $@" % include,
        )
        srcs.append(src)
    native.genrule(
        name = "_%s_main" % name,
        outs = ["_%s/main.cpp" % name],
        cmd = "echo 'int main() { return 0; }' > $@",
    )
    native.cc_test(
        name = name,
        srcs = srcs + ["_%s/main.cpp" % name],
        deps = deps,
        size = "small",
    )
