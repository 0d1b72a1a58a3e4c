// placeholder: replaced when the smtp component lands
