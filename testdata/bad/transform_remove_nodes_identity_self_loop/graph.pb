

xPlaceholder*
dtype0

aIdentitya*
T0

sumAddV2xa*
T0