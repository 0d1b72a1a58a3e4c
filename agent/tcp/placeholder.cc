// placeholder: replaced when the tcp component lands
