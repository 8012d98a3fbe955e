// Package tudiff tells whether a change of headers can change the code of
// a translation unit that includes them, from the unit preprocessed before
// and after (gcc -E), without compiling it.
//
// A header that thousands of objects include changes in most release
// deltas, and most of those objects do not use what changed: a new inline
// helper, a prototype, a member added in a union. Comparing the
// preprocessed text says nothing (the header's own text is in every unit);
// comparing what the unit uses does. A unit is split into its top-level
// declarations; those that differ between before and after are the
// change; the names they define are followed from the declarations that
// make code or data by themselves (functions that are not inline,
// variables), through every declaration those refer to. A unit whose code
// can reach no changed name, and has no changed declaration of its own
// that makes code, compiles to the same code.
//
// The analysis errs only one way: anything it cannot place (a declaration
// whose names it cannot find, a pragma that changes what follows it)
// counts as a change that reaches the code. A structure whose definition
// changed but whose layout, as its users see it, did not (a member put
// into an anonymous union with a new one) is not a change if the caller
// says so (Options.SameLayout), which takes a compiler.
package tudiff
