// placeholder: replaced when the capture component lands
