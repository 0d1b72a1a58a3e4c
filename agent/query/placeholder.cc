// placeholder: replaced when the query component lands
