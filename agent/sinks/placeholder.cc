// placeholder: replaced when the sinks component lands
