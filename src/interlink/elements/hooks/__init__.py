"""Where built-in elements' Python hooks live: one module per element that needs code.

An element's `hooks: interlink.elements.hooks.<module>` names a module here; the definition
format refuses any other module, and custom elements cannot carry hooks at all. See
`interlink.vendor.hooks` for the functions a hooks module may define.
"""
